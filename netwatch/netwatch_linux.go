package netwatch

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"stayline/internal/clock"
)

// netlinkWatcher hears the kernel's address and route notifications (rtnetlink groups RTNLGRP_IPV4_IFADDR,
// RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE): no polling, no delay.
type netlinkWatcher struct {
	*feed
	log   *slog.Logger
	done  chan struct{}
	names bool // interface names can be looked up (the process's own namespace)
}

// New starts watching the network of the namespace the process runs in.
func New(log *slog.Logger) (Watcher, error) {
	return newWith(clock.Real{}, log, nil)
}

// newWith watches the namespace ns (nil: the process's own), on clk.
func newWith(clk clock.Clock, log *slog.Logger, ns *netns.NsHandle) (Watcher, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &netlinkWatcher{feed: newFeed(clk), log: log.With("part", "netwatch"), done: make(chan struct{}), names: ns == nil}
	addrs := make(chan netlink.AddrUpdate, 256)
	routes := make(chan netlink.RouteUpdate, 256)
	onErr := func(err error) {
		select {
		case <-w.done: // closing: the sockets' last reads fail
		default:
			w.log.Warn("network notifications", "error", err)
		}
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, w.done, netlink.AddrSubscribeOptions{ErrorCallback: onErr, Namespace: ns}); err != nil {
		w.feed.close()
		return nil, fmt.Errorf("watch addresses (netlink): %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(routes, w.done, netlink.RouteSubscribeOptions{ErrorCallback: onErr, Namespace: ns}); err != nil {
		close(w.done)
		w.feed.close()
		return nil, fmt.Errorf("watch routes (netlink): %w", err)
	}
	go w.run(addrs, routes)
	return w, nil
}

func (w *netlinkWatcher) run(addrs <-chan netlink.AddrUpdate, routes <-chan netlink.RouteUpdate) {
	for addrs != nil || routes != nil {
		select {
		case u, ok := <-addrs:
			if !ok {
				addrs = nil
				continue
			}
			if why, ok := describeAddr(u, w.names); ok {
				w.lim.Note(why)
			}
		case u, ok := <-routes:
			if !ok {
				routes = nil
				continue
			}
			if why, ok := describeRoute(u, w.names); ok {
				w.lim.Note(why)
			}
		case <-w.done:
			return
		}
	}
}

func (w *netlinkWatcher) Changes() <-chan Change { return w.out }

func (w *netlinkWatcher) Close() error {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.feed.close()
	return nil
}

// describeAddr names an address change that can matter to the phone: not loopback, not IPv6 link-local
// (those come and go with every interface and never reach a server).
func describeAddr(u netlink.AddrUpdate, names bool) (string, bool) {
	ip := u.LinkAddress.IP
	if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return "", false
	}
	verb := "removed from"
	if u.NewAddr {
		verb = "added on"
	}
	return fmt.Sprintf("address %s %s %s", ip, verb, ifName(u.LinkIndex, names)), true
}

// describeRoute names a change of the main routing table (the local and broadcast routes the kernel keeps
// for each address come with the address's own notification), IPv6 link-local and multicast left out.
func describeRoute(u netlink.RouteUpdate, names bool) (string, bool) {
	r := u.Route
	if r.Table != unix.RT_TABLE_MAIN && r.Table != 0 {
		return "", false
	}
	if r.Dst != nil && (r.Dst.IP.IsLinkLocalUnicast() || r.Dst.IP.IsMulticast() || r.Dst.IP.IsLoopback()) {
		return "", false
	}
	verb := "removed"
	if u.Type == unix.RTM_NEWROUTE {
		verb = "added"
	}
	dst := "default"
	if r.Dst != nil {
		if ones, _ := r.Dst.Mask.Size(); ones > 0 {
			dst = r.Dst.String()
		}
	}
	s := fmt.Sprintf("route %s %s", dst, verb)
	if r.Gw != nil {
		s += " (via " + r.Gw.String() + ")"
	}
	if r.LinkIndex > 0 {
		s += " on " + ifName(r.LinkIndex, names)
	}
	return s, true
}

func ifName(index int, names bool) string {
	if !names {
		return fmt.Sprintf("interface %d", index)
	}
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		return ifi.Name
	}
	return fmt.Sprintf("interface %d", index)
}
