# Call 5: sweep.py's second job lists, 7 workers (call 4's 12 workers, long jobs first, lost
# the long jobs at the time limit).
set -u
mkdir -p /tmp/pp && ln -sfn "$PWD/utils" /tmp/pp/vitbook
export PYTHONPATH="/tmp/pp${PYTHONPATH:+:$PYTHONPATH}"
W=/tmp/w5; mkdir -p $W
trap 'tar czf $OUT/all.tgz -C $W .' EXIT
for k in $(seq 0 6); do
  ( OMP_NUM_THREADS=2 timeout 290 python records/2026-11-26-h200/sweep.py $k 7 $W > $W/sweep-$k.log 2>&1 ) &
done
wait
cat $W/sweep-*.log | grep seed | sort
