#include "common/http_message.hpp"

namespace kw {

const HeaderField* FindHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

}  // namespace kw
