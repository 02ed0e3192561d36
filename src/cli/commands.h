// The subcommands of the `continuum` binary; one file each.
#pragma once

#include <string>
#include <vector>

namespace continuum::cli {

int Serve(const std::vector<std::string>& args);
int Run(const std::vector<std::string>& args);
int Import(const std::vector<std::string>& args);
int LinkEmu(const std::vector<std::string>& args);
int Gateway(const std::vector<std::string>& args);
int Decisions(const std::vector<std::string>& args);
int Pack(const std::vector<std::string>& args);
int Install(const std::vector<std::string>& args);
int Inspect(const std::vector<std::string>& args);
int Push(const std::vector<std::string>& args);
int Pull(const std::vector<std::string>& args);
int GenerateKeyPair(const std::vector<std::string>& args);  // sign.cc
int Sign(const std::vector<std::string>& args);
int Verify(const std::vector<std::string>& args);
int Hub(const std::vector<std::string>& args);    // hub.cc: the hub, and apply / plan / delete against one
int Agent(const std::vector<std::string>& args);  // the fleet agent

}  // namespace continuum::cli
