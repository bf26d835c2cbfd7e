# Our options per model in the INT8 benchmark (sourced by bench/quantize.sh and
# bench/quantize_device.sh): the accuracy search on each task's own criterion, validated on
# calibration batches.
# - yolo: minmax (entropy clips the box and score tensors), every layer a candidate, the search
#   on the raw head's relative L2 (0.05 keeps >= 95 % of FP32's boxes);
# - det: relative L2 of the probability map (pooled over the validation batches; 0.01 keeps every
#   page within 0.05: single int8 layers move its sharp map by 0.1–0.3);
# - rec: the argmax at each time step (identical CTC text where every step agrees);
# - cls, orientation: the class (argmax) on 99 % of the 200 calibration samples.
our_options() {
  case $1 in
    yolo) echo "--calibrator minmax --every-layer --keep-output-layers 1 --target-rel-l2 0.05 --validation-batches 8" ;;
    det) echo "--calibrator ${METHOD:-entropy} --target-rel-l2 0.01 --validation-batches 16 --calibration-batch 2" ;;
    rec) echo "--calibrator ${METHOD:-entropy} --target-agreement 0.999 --validation-batches 25 --calibration-batch 8" ;;
    *) echo "--calibrator ${METHOD:-entropy} --target-agreement 0.99 --validation-batches 25 --calibration-batch 8" ;;
  esac
}
