//go:build race

package engineio_test

// raceDetector is whether the tests run under -race, whose goroutine
// stacks are larger.
const raceDetector = true
