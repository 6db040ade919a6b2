package assets

import (
	"bytes"
	"fmt"
	"image"
	"image/png"

	"github.com/srwiley/oksvg"
	"github.com/srwiley/rasterx"
	"golang.org/x/image/draw"
)

// Rasterise draws an SVG at size×size pixels. The tray of Linux desktops (a StatusNotifierItem), Windows
// and macOS take bitmaps, not SVG: the stage icons are drawn from their SVGs at start (see
// docs/ARCHITECTURE.md, "The window").
func Rasterise(svg []byte, size int) (*image.RGBA, error) {
	icon, err := oksvg.ReadIconStream(bytes.NewReader(svg), oksvg.WarnErrorMode)
	if err != nil {
		return nil, fmt.Errorf("read SVG: %w", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	icon.SetTarget(0, 0, float64(size), float64(size))
	icon.Draw(rasterx.NewDasher(size, size, rasterx.NewScannerGV(size, size, img, img.Bounds())), 1)
	return img, nil
}

// Badged is the application icon at size pixels with badge (an SVG) over its lower right part, as a PNG;
// no badge gives the plain icon. The icon is scaled from icon.png (oksvg draws its dashed stroke badly).
func Badged(badge []byte, size int) ([]byte, error) {
	src, err := png.Decode(bytes.NewReader(IconPNG))
	if err != nil {
		return nil, fmt.Errorf("application icon: %w", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(img, img.Bounds(), src, src.Bounds(), draw.Src, nil)
	if badge != nil {
		b, err := Rasterise(badge, size*5/8)
		if err != nil {
			return nil, fmt.Errorf("badge: %w", err)
		}
		at := image.Pt(size-b.Bounds().Dx(), size-b.Bounds().Dy())
		draw.Draw(img, b.Bounds().Add(at), b, image.Point{}, draw.Over)
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("encode PNG: %w", err)
	}
	return out.Bytes(), nil
}
