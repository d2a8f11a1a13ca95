package livekit

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/internal/testlivekit"
)

// TestRealServer checks the wire formats against a real livekit-server
// (internal/testlivekit; skipped without one unless CI is set): the server
// accepts a participant token of this package for its room and refuses one
// signed with another secret, and takes a RemoveParticipant call signed by
// this package (a participant not in the room is ErrNotFound, not a refusal
// of the call's token), and its ListRooms and ListParticipants calls.
func TestRealServer(t *testing.T) {
	srv := testlivekit.Start(t)
	good, err := New(Config{URL: srv.URL, APIKey: srv.APIKey, APISecret: []byte(srv.APISecret)})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := New(Config{URL: srv.URL, APIKey: srv.APIKey, APISecret: []byte(strings.Repeat("x", 64))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p := Participant{Identity: "g_1", Name: "Ada", Room: "r1", Role: "viewer", Link: "l_1"}
	for _, tc := range []struct {
		name   string
		c      *Client
		status int
	}{
		{"accepted", good, http.StatusOK},
		{"another secret", forged, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, _, err := tc.c.Token(p, now, now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(strings.Replace(srv.URL, "ws://", "http://", 1) + "/rtc/validate?access_token=" + url.QueryEscape(tok))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("/rtc/validate: %d %s, want %d", resp.StatusCode, body, tc.status)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := good.RemoveParticipant(ctx, "r1", "g_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveParticipant of nobody = %v, want ErrNotFound", err)
	}
	if err := forged.RemoveParticipant(ctx, "r1", "g_1"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveParticipant signed with another secret = %v, want a refusal", err)
	}
	// The list-only token is accepted; rooms appear once someone joins,
	// which integration/livekit does with LiveKit's SDK.
	if rooms, err := good.ListRooms(ctx); err != nil || len(rooms) != 0 {
		t.Fatalf("ListRooms of a new server = %v, %v; want none", rooms, err)
	}
	if _, err := forged.ListRooms(ctx); err == nil {
		t.Fatal("ListRooms signed with another secret succeeded")
	}
	if ps, err := good.ListParticipants(ctx, "r1"); err != nil || len(ps) != 0 {
		t.Fatalf("ListParticipants of a room nobody joined = %v, %v; want none", ps, err)
	}
}
