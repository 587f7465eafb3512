#pragma once

#include <memory>

#include "tutti/combine.hpp"

namespace tutti {

/// `combine: first` — the reply that arrived first: the first success in
/// `combine_input::arrival` (the order the ensemble received outcomes in,
/// so a streamed answer and the final one are the same reply); without an
/// arrival order, the success whose outcome took the least time
/// (`total_us`), the earlier member on a tie. Failed when no member
/// succeeded.
std::unique_ptr<combine_strategy> make_first(const combine_options&);

/// `combine: first` reads no settings and streams its answer: the first
/// success, the moment it arrives.
combine_traits first_traits();

/// What `combine: first` answers for `input`; also the last fallback of the
/// strategies that ask another model.
combined first_success(const combine_input& input);

} // namespace tutti
