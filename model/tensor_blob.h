// Private (torch): tensors to and from the checkpoint format's torch-free arrays (model/checkpoint_io.h).
#pragma once

#include <torch/torch.h>

#include "model/checkpoint_io.h"

namespace gpt4rec::model {

ArrayBlob ToBlob(const torch::Tensor& t);        // f32, i64 or i32, contiguous copy
torch::Tensor FromBlob(const ArrayBlob& b);

}  // namespace gpt4rec::model
