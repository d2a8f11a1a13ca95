// Package livekit holds the tests of guestgate against a real LiveKit server
// and LiveKit's Go SDK. It is a module of its own so that the SDK never
// enters guestgate's go.mod, nor the Caddy build.
package livekit
