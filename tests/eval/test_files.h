// Writes small input files in the exact raw formats for the eval tests.
#pragma once

#include <fstream>
#include <string>

namespace gpt4rec::eval::testing {

inline std::string WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return path;
}

}  // namespace gpt4rec::eval::testing
