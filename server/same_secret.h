// Token comparison for the gRPC service and the dashboard's JSON: one implementation of "same secret".
#pragma once

#include <string>

namespace gpt4rec::server {

// Comparison time independent of where the strings differ (only the length leaks). An empty secret matches
// nothing.
inline bool SameSecret(const std::string& given, const std::string& secret) {
  if (secret.empty() || given.size() != secret.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < secret.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ secret[i]);
  return diff == 0;
}

}  // namespace gpt4rec::server
