#include "common/strings.hpp"

namespace kw {

std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLowerAscii(c);
  return out;
}

}  // namespace kw
