//go:build race

package e2e

// raceDetector is whether the tests run under -race, which slows natter
// several times: storms shrink under it.
const raceDetector = true
