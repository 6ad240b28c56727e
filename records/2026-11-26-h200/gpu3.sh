set -u
export VITBOOK_COMMIT=$(cat .carry/commit)
mkdir -p /tmp/pp && ln -sfn "$PWD/utils" /tmp/pp/vitbook
export PYTHONPATH="/tmp/pp${PYTHONPATH:+:$PYTHONPATH}"
W=/tmp/w3; mkdir -p $W
trap 'tar czf $OUT/all.tgz -C $W .' EXIT
start=$(date +%s)
for nb in book/0*.ipynb; do
  n=$(basename $nb .ipynb)
  ( OMP_NUM_THREADS=1 timeout 120 python -m pytest "$nb" -q -rA > $W/cuda-$n.log 2>&1; echo "rc=$?" >> $W/cuda-$n.log ) &
done
for n in 03_attention 04_encoder_block 05_vit 07_inside 08_vit_vs_cnn; do
  ( CUDA_VISIBLE_DEVICES= OMP_NUM_THREADS=1 timeout 120 python -m pytest "book/$n.ipynb" -q -rA > $W/cpu-$n.log 2>&1; echo "rc=$?" >> $W/cpu-$n.log ) &
done
wait
echo "nbval phase $(( $(date +%s) - start )) s"; for f in $W/*.log; do echo "$(basename $f): $(tail -n 2 $f | tr '\n' ' ')"; done
timeout 150 python .carry/explore.py $W/explore.json 2>&1 | grep -v Warning | tail -8
