#pragma once

#include <memory>

#include "tutti/combine.hpp"

namespace tutti {

/// `combine: collect` — every successful answer in member order, each under
/// its member's label; failed members are left to the answer's member list.
std::unique_ptr<combine_strategy> make_collect(const combine_options&);

} // namespace tutti
