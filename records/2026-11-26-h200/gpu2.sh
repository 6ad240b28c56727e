set -u
export VITBOOK_COMMIT=2b8044dde17eb4d66ceca3437d1ef5f9a7c46937
mkdir -p /tmp/pp && ln -sfn "$PWD/utils" /tmp/pp/vitbook
export PYTHONPATH="/tmp/pp${PYTHONPATH:+:$PYTHONPATH}"
W=/tmp/w; mkdir -p $W/results
trap 'tar czf $OUT/all.tgz -C $W .' EXIT
nvidia-smi > $W/nvidia-smi.txt 2>&1
OMP_NUM_THREADS=4 timeout 90 python -m pytest book/08_vit_vs_cnn.ipynb -q -rA > $W/nbval-08.log 2>&1; echo "nbval 08 rc=$?"
for spec in throughput:40 quick:90 d2l:80 checkpoint:80 baselines:120; do
  r=${spec%%:*}; t=${spec##*:}; s=$(date +%s)
  timeout $t python -m vitbook.runs run $r --device cuda --out $W/results > $W/run-$r.log 2>&1
  echo "$r rc=$? $(( $(date +%s) - s )) s"
done
ls -la $W/results
