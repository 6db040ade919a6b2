package main

import (
	"fmt"
	"image/color"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"stayline/fleet"
)

// drawChart plots the REGISTERs each server received per 100 ms over the whole run, one panel per
// server on the same time axis, with the kill and the restart of home marked.
func drawChart(path string, r fleet.Result) error {
	const width = 100 * time.Millisecond
	end := r.AllHome.Add(2 * time.Second)
	servers := []struct {
		name string
		c    color.RGBA
	}{{"home", color.RGBA{R: 30, G: 90, B: 200, A: 255}}, {"alternate", color.RGBA{R: 220, G: 110, B: 20, A: 255}}}
	peak := 1
	buckets := map[string][]int{}
	for _, s := range servers {
		buckets[s.name] = r.Servers.Buckets(s.name, r.Start, end, width)
		for _, n := range buckets[s.name] {
			peak = max(peak, n)
		}
	}
	var rows [][]*plot.Plot
	for i, s := range servers {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("REGISTERs per 100 ms at %s", s.name)
		if i == 0 {
			p.Title.Text = fmt.Sprintf("%d phones, %s policy. %s", r.N, r.Policy, p.Title.Text)
		}
		p.X.Label.Text = "seconds since the first phone started"
		p.Y.Min, p.Y.Max = 0, float64(peak)*1.1
		p.X.Min, p.X.Max = 0, end.Sub(r.Start).Seconds()
		p.Legend.Top = true
		pts := make(plotter.XYs, len(buckets[s.name]))
		for j, n := range buckets[s.name] {
			pts[j].X, pts[j].Y = float64(j)*width.Seconds(), float64(n)
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = s.c
		p.Add(l)
		p.Legend.Add(s.name, l)
		for _, m := range []struct {
			at   time.Time
			name string
			c    color.RGBA
		}{{r.Kill, "home killed -9", color.RGBA{R: 200, A: 255}}, {r.Restart, "home restarted", color.RGBA{G: 150, A: 255}}} {
			x := m.at.Sub(r.Start).Seconds()
			ml, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: float64(peak) * 1.1}})
			if err != nil {
				return err
			}
			ml.Color = m.c
			ml.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(ml)
			p.Legend.Add(m.name, ml)
		}
		rows = append(rows, []*plot.Plot{p})
	}
	img := vgimg.New(26*vg.Centimeter, 16*vg.Centimeter)
	dc := draw.New(img)
	canvases := plot.Align(rows, draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Millimeter * 4}, dc)
	for i := range rows {
		rows[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
