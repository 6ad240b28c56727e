# One device call: nbval over every chapter on CUDA (chapters in parallel), then the
# recorded runs alone on the GPU, each under its own time limit.
set -u
export VITBOOK_COMMIT=2b8044dde17eb4d66ceca3437d1ef5f9a7c46937
mkdir -p /tmp/pp && ln -sfn "$PWD/utils" /tmp/pp/vitbook
export PYTHONPATH="/tmp/pp${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi > $OUT/nvidia-smi.txt 2>&1
python -c "import torch, timm, nbval, vitbook; print('torch', torch.__version__, 'timm', timm.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" 2>&1 | tee $OUT/versions.txt
git rev-parse HEAD > $OUT/git.txt 2>&1
start=$(date +%s)
for nb in book/0*.ipynb; do
  n=$(basename $nb .ipynb)
  ( s=$(date +%s); OMP_NUM_THREADS=2 timeout 170 python -m pytest "$nb" -q -rA > $OUT/nbval-$n.log 2>&1; echo "rc=$? seconds=$(( $(date +%s) - s ))" >> $OUT/nbval-$n.log ) &
done
wait
echo "nbval phase $(( $(date +%s) - start )) s"; tail -n 2 $OUT/nbval-*.log
mkdir -p $OUT/results
for spec in throughput:45 quick:90 d2l:110 checkpoint:120; do
  r=${spec%%:*}; t=${spec##*:}; s=$(date +%s)
  timeout $t python -m vitbook.runs run $r --device cuda --out $OUT/results > $OUT/run-$r.log 2>&1
  echo "$r rc=$? $(( $(date +%s) - s )) s"
done
ls -la $OUT/results
