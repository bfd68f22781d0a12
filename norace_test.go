//go:build !race

package tagseal_test

const raceEnabled = false
