// The dashboard page (server/dashboard/index.html), compiled into the binary by CMake (server/CMakeLists.txt):
// the server reads no file at run time, and the page fetches nothing from outside the machine.
#pragma once

#include <string_view>

namespace gpt4rec::server {

std::string_view DashboardPage();

}  // namespace gpt4rec::server
