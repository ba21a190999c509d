// eval/ — every contract of the offline replay in one include, for eval/replay_main.cc (the CLI uses all of
// them). Everything else includes the one header of the concept it uses:
//   eval/loaders.h        raw-format loaders
//   eval/calendar.h       time patterns and calendar periods
//   eval/preprocess.h     de-duplication, k-core, segments, split
//   eval/metrics.h        ranking metrics
//   eval/replay_driver.h  the replay of every strategy over every segment
//   eval/report.h         its reports
//   eval/synth.h          synthetic streams
#pragma once

#include "eval/calendar.h"
#include "eval/loaders.h"
#include "eval/metrics.h"
#include "eval/preprocess.h"
#include "eval/replay_driver.h"
#include "eval/report.h"
#include "eval/synth.h"
