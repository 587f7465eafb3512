#pragma once

#include <cstddef>
#include <string>

namespace tutti {

/// A fresh random id of `hex_digits` hex digits: ids (runs, completions)
/// must not be guessable from others. Drawn from OpenSSL's generator
/// (seeded from the kernel) a buffer at a time, so an id costs no system
/// call; a forked child starts a buffer of its own.
std::string random_hex(size_t hex_digits);

/// `hex_digits` (more than 8) hex digits for an id that sorts by time: 8 of
/// a clock that ticks every 4 ms (wrapping every 198 days), then random
/// ones (`random_hex`). Ids made close in time sort close together, so the
/// rows they key land on a few pages of an index.
std::string time_sorted_hex(size_t hex_digits);

/// Random hex digits for a secret (an API key): straight from OpenSSL's
/// generator on every call, never kept in a buffer. Throws when it fails.
std::string secret_hex(size_t hex_digits);

} // namespace tutti
