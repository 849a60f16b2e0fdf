// Shared human renderings of deployment data: ports, compile reports and
// core lists, used by describe, deploy and compile.
#ifndef SPK_CLI_SPIKECTL_REPORT_H_
#define SPK_CLI_SPIKECTL_REPORT_H_

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace spk::spikectl {

// [0,1,2,3,7] -> "0-3,7".
std::string CoreRanges(const nlohmann::json& cores);
// An "INPUT/OUTPUT  NAME  KIND  SHAPE  DTYPE  NEURONS" table of `inputs` and
// `outputs`.
void PrintPorts(std::ostream& out, const nlohmann::json& deployment);
// A compile report: totals, then a layer table when layers are listed, then
// warnings.
void PrintReport(std::ostream& out, const nlohmann::json& report);

}  // namespace spk::spikectl

#endif  // SPK_CLI_SPIKECTL_REPORT_H_
