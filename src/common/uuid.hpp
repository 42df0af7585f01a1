#pragma once

// RFC 4122 version-4 UUIDs, the format AWS uses for request IDs, version IDs, command
// IDs and event IDs. Pure formatting over bytes the caller draws (so request IDs can
// come from a cheap keyed counter and everything else from the injected Random).

#include <array>
#include <string>

#include "common/random.hpp"

namespace kw {

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (lower-case hex) from 16 bytes, with the
// version (4) and variant (10xx) bits set.
std::string FormatUuidV4(std::array<unsigned char, 16> bytes);

// A version-4 UUID from 16 bytes of `random`.
std::string NewUuid(Random& random);

}  // namespace kw
