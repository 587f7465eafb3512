#include "engine/src/member_agreement.hpp"

#include <algorithm>

namespace tutti {

namespace {

bool voted_in(const vote_row& row, const std::string& member) {
  return std::find(row.members.begin(), row.members.end(), member) !=
         row.members.end();
}

} // namespace

std::vector<std::optional<bool>>
member_agreement(const ensemble_answer& answer) {
  std::vector<std::optional<bool>> agreed(answer.members.size());
  // A debate's later rounds are combiner calls: past round 1 the vote
  // counted their answers, not the members' first replies.
  if (answer.votes.empty() || answer.winner.empty() || answer.rounds > 1)
    return agreed;
  auto winning = std::find_if(
      answer.votes.begin(), answer.votes.end(),
      [&](const vote_row& row) { return voted_in(row, answer.winner); });
  if (winning == answer.votes.end())
    return agreed;
  for (size_t i = 0; i < answer.members.size(); ++i) {
    auto& member = answer.members[i];
    if (!member.ok)
      continue;
    if (voted_in(*winning, member.member))
      agreed[i] = true;
    else if (std::any_of(answer.votes.begin(), answer.votes.end(),
                         [&](const vote_row& row) {
                           return voted_in(row, member.member);
                         }))
      agreed[i] = false;
  }
  return agreed;
}

} // namespace tutti
