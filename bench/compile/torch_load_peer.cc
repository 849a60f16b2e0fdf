// The compile benchmark's peer: what LibTorch alone costs to take the same
// archive to a result: torch::jit::load plus one forward on zeros. Exits 0
// on success, 1 on failure.
//
//   torch_load_peer MODEL.pt N,C,H,W
#include <torch/script.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: torch_load_peer MODEL.pt N,C,H,W\n";
    return 2;
  }
  std::vector<int64_t> shape;
  for (std::string rest = argv[2]; !rest.empty();) {
    const size_t comma = rest.find(',');
    shape.push_back(std::atoll(rest.substr(0, comma).c_str()));
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  try {
    torch::NoGradGuard no_grad;
    torch::jit::Module module = torch::jit::load(argv[1]);
    module.eval();
    auto out = module.forward({torch::zeros(shape)}).toTensor();
    std::cout << "output " << out.sizes() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "torch_load_peer: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
