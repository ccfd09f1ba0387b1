//go:build !race

package engineio_test

const raceDetector = false
