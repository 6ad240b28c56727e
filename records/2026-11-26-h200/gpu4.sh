# Call 4 (second GPU session): the recorded run `checkpoint` with the new GPU recipe, alone;
# then, together, nbval of chapters 4 and 6 on CUDA and sweep.py in 12 workers.
set -u
export VITBOOK_COMMIT=$(cat .carry/commit)
mkdir -p /tmp/pp && ln -sfn "$PWD/utils" /tmp/pp/vitbook
export PYTHONPATH="/tmp/pp${PYTHONPATH:+:$PYTHONPATH}"
W=/tmp/w4; mkdir -p $W
trap 'cp utils/results/checkpoint-cuda.json $W/ 2>/dev/null; tar czf $OUT/all.tgz -C $W .' EXIT
start=$(date +%s)
timeout 150 python -m vitbook.runs run checkpoint --device cuda > $W/checkpoint.log 2>&1
echo "checkpoint rc=$? after $(( $(date +%s) - start )) s"; tail -c 400 $W/checkpoint.log
for n in 04_encoder_block 06_training; do
  ( OMP_NUM_THREADS=1 timeout 300 python -m pytest "book/$n.ipynb" -q -rA > $W/third-cuda-$n.log 2>&1; echo "rc=$?" >> $W/third-cuda-$n.log ) &
done
for k in $(seq 0 11); do
  ( OMP_NUM_THREADS=1 timeout 320 python records/2026-11-26-h200/sweep.py $k 12 $W > $W/sweep-$k.log 2>&1 ) &
done
wait
echo "phase 2 done after $(( $(date +%s) - start )) s"
for f in $W/third-*.log; do echo "$(basename $f): $(tail -n 2 $f | tr '\n' ' ')"; done
cat $W/sweep-*.log | grep seed | sort
