// `continuum decisions verify FILE`: checks a gateway decision log's hash chain.
#include <cstdio>

#include "cli/commands.h"
#include "router/decision_log.h"

namespace continuum::cli {

int Decisions(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "verify") {
    std::fprintf(stderr,
                 "usage: continuum decisions verify FILE\n\n"
                 "Checks that every record of a decision log (JSON lines) holds the SHA-256 of the line\n"
                 "before it; names the first broken line. Exit status 0: intact, 1: broken, 2: usage.\n");
    return 2;
  }
  if (Status st = router::VerifyDecisionLogFile(args[1]); !st.ok()) {
    std::fprintf(stderr, "continuum decisions: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("%s: hash chain intact\n", args[1].c_str());
  return 0;
}

}  // namespace continuum::cli
