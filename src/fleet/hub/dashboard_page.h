// The hub's web page (web/dashboard/index.html), built into the binary so that a hub is one file.
#pragma once

#include <string_view>

namespace continuum::fleet::hub {

std::string_view DashboardPage();

}  // namespace continuum::fleet::hub
