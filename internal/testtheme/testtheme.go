// Package testtheme writes the files that tests of the guest pages' theme
// configure: logos and templates.
package testtheme

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// WritePNG writes a w x h PNG to path: squares of 10 px in the green of the
// test themes' accent (#126b3a) and a yellow, so that a logo is plain to see
// on a screenshot. It returns path, and fails the test when the file cannot
// be written.
func WritePNG(tb testing.TB, path string, w, h int) string {
	tb.Helper()
	green, yellow := color.RGBA{0x12, 0x6b, 0x3a, 0xff}, color.RGBA{0xf2, 0xb7, 0x05, 0xff}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			c := green
			if (x/10+y/10)%2 == 0 {
				c = yellow
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return WriteFile(tb, path, b.String())
}

// WriteFile writes text to path, making its directory first, and returns
// path. It fails the test when the file cannot be written.
func WriteFile(tb testing.TB, path, text string) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}
