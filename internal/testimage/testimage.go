// Package testimage writes the images that tests of the guest pages' theme
// need: a logo file to configure, serve and show.
package testimage

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"
)

// WritePNG writes a w x h PNG to path: squares of 10 px in the green of the
// test themes' accent (#126b3a) and a yellow, so that a logo is plain to see
// on a screenshot. It fails the test when the file cannot be written.
func WritePNG(tb testing.TB, path string, w, h int) {
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
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}
