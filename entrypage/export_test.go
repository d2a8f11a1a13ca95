package entrypage

import "time"

// SetLiveKitAdopt makes the gateways made after it look for LiveKit
// participants to adopt first after first, then every every; the returned
// func restores the defaults.
func SetLiveKitAdopt(first, every time.Duration) (restore func()) {
	oldFirst, oldEvery := liveKitAdoptFirst, liveKitAdopt
	liveKitAdoptFirst, liveKitAdopt = first, every
	return func() { liveKitAdoptFirst, liveKitAdopt = oldFirst, oldEvery }
}
