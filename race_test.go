//go:build race

package tagseal_test

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts are not stable under -race.
const raceEnabled = true
