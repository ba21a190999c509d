#include "model/tensor_blob.h"

#include <cstring>

namespace gpt4rec::model {

ArrayBlob ToBlob(const torch::Tensor& t) {
  auto c = t.detach().contiguous();
  ArrayBlob b;
  b.dtype = c.scalar_type() == torch::kFloat32 ? 0 : c.scalar_type() == torch::kInt64 ? 1 : 2;
  b.shape.assign(c.sizes().begin(), c.sizes().end());
  b.bytes.assign(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return b;
}

torch::Tensor FromBlob(const ArrayBlob& b) {
  auto dtype = b.dtype == 0 ? torch::kFloat32 : b.dtype == 1 ? torch::kInt64 : torch::kInt32;
  auto t = torch::empty(b.shape, torch::TensorOptions().dtype(dtype));
  std::memcpy(t.data_ptr(), b.bytes.data(), b.bytes.size());
  return t;
}

}  // namespace gpt4rec::model
