// zlib from the system (Debian: zlib1g-dev). Only the Tensors NumPy layer uses it.
#include <zlib.h>
