// spikectl: the command-line client of spiked. Everything is in the verbs;
// main only hands over the arguments and says whether stderr is a terminal.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "cli/spikectl/verbs.h"

int main(int argc, char** argv) {
  // A closed stdout (spikectl ls | head) must not kill us mid-write.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  const int code = spk::spikectl::RunSpikectl(args, std::cout, std::cerr, ::isatty(2) == 1);
  std::cout.flush();
  return code;
}
