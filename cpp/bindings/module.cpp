#include "bindings/bindings.h"

NB_MODULE(_core, m) {
  m.doc() = "splatcore C++ core: tensors, autograd, optimizers (CPU backend)";
  sc::bind_errors(m);
  sc::bind_tensor(m);
  sc::bind_ops(m);
  sc::bind_linalg(m);
  sc::bind_index(m);
  sc::bind_optim(m);
  sc::bind_sort(m);
  sc::bind_splat(m);
  sc::bind_loss(m);
  sc::bind_safetensors(m);
  sc::bind_mast3r(m);
  sc::bind_mesh(m);
  sc::bind_align(m);
  sc::bind_info(m);
  sc::bind_device(m);
  sc::bind_gpu_selftest(m);
}
