// util/ — finding columns in the header line of a delimited interaction file (CSV, or a RecBole atomic file
// whose header fields carry a type suffix: "user_id:token\titem_id:token\ttimestamp:float"). Used by the
// ingest CLI's reader (server/cli_input.cc) and the replay's loaders (eval/loaders.cc). Header-only.
#pragma once

#include <initializer_list>
#include <string_view>
#include <vector>

namespace gpt4rec::util {

// A header field's column name: the part before RecBole's ":type" suffix ("user_id:token" -> "user_id").
constexpr std::string_view ColumnName(std::string_view field) { return field.substr(0, field.find(':')); }

// The index of the header field whose ColumnName is one of `names` (the last such field when several are);
// -1 when none is.
template <typename Field>
int FindColumn(const std::vector<Field>& fields, std::initializer_list<std::string_view> names) {
  int found = -1;
  for (size_t k = 0; k < fields.size(); ++k) {
    const std::string_view name = ColumnName(std::string_view(fields[k]));
    for (std::string_view wanted : names)
      if (name == wanted) found = static_cast<int>(k);
  }
  return found;
}

}  // namespace gpt4rec::util
