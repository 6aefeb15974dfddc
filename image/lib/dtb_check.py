#!/usr/bin/env python3
"""Checks a merged Raspberry Pi device tree (as `dtc -I dtb -O dts` prints it) for what the GFX
HAT needs, and that nothing else claims the LCD's DC and RST lines:

  - SPI0 (/soc/spi@7e204000) enabled, its pins GPIO 7-11 in ALT0, in interrupt mode (no DMA
    channel named), a spidev child on chip select 0 (the LCD) at 1 MHz;
  - I2C1 (/soc/i2c@7e804000) enabled, its pins GPIO 2/3 in ALT0;
  - no enabled node claims GPIO 5 or 6 of the pin controller (/soc/gpio@7e200000): not through
    a `*-gpios` property, a pin group or a gpio-hog; and no enabled node but SPI0 and I2C1 muxes
    their pins (the pin controller's own hogs included: a pin claimed twice fails the probe).

    dtb_check.py FILE.dts [NAME]   prints one line per check; exit 1 if any failed.
"""
import re
import sys

GPIO = "/soc/gpio@7e200000"
SPI0 = "/soc/spi@7e204000"
I2C1 = "/soc/i2c@7e804000"
LCD_LINES = (5, 6)
ALT0 = 4


class Node:
    def __init__(self, path, parent):
        self.path = path
        self.parent = parent
        self.props = {}
        self.children = []

    def enabled(self):
        n = self
        while n is not None:
            if n.props.get("status") not in (None, '"okay"', '"ok"'):
                return False
            n = n.parent
        return True


def parse(text):
    """The nodes of a DTS file by path (dtc's own output: one statement per line)."""
    nodes = {}
    stack = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("/dts-v1/", "//", "/memreserve/")):
            continue
        m = re.fullmatch(r"(?:[\w,.+-]+:\s*)?([\w,.+@/-]+)\s*\{", line)
        if m:
            name = m.group(1)
            if not stack:
                path = "/"
            else:
                parent = stack[-1].path
                path = parent.rstrip("/") + "/" + name
            node = Node(path, stack[-1] if stack else None)
            if stack:
                stack[-1].children.append(node)
            nodes[path] = node
            stack.append(node)
            continue
        if line == "};":
            stack.pop()
            continue
        m = re.fullmatch(r"([\w,.+#?-]+)\s*(?:=\s*(.*))?;", line)
        if m and stack:
            stack[-1].props[m.group(1)] = m.group(2) if m.group(2) is not None else ""
    return nodes


def cells(value):
    """The 32-bit cells of a `<...>` value (several groups are concatenated)."""
    if not value:
        return []
    return [int(c, 0) for g in re.findall(r"<([^>]*)>", value) for c in g.split()]


def strings(value):
    return re.findall(r'"([^"]*)"', value or "")


def by_phandle(nodes):
    out = {}
    for n in nodes.values():
        for key in ("phandle", "linux,phandle"):
            if key in n.props:
                out[cells(n.props[key])[0]] = n
    return out


def pinctrl_groups(node, phandles, only=None):
    """The pin groups a node selects (pinctrl-0, pinctrl-1, ...); `only`: of that state name."""
    names = strings(node.props.get("pinctrl-names"))
    groups = []
    for key, value in node.props.items():
        m = re.fullmatch(r"pinctrl-(\d+)", key)
        if not m:
            continue
        index = int(m.group(1))
        if only is not None and (index >= len(names) or names[index] != only):
            continue
        groups += [phandles[p] for p in cells(value) if p in phandles]
    return groups


def gpio_claims(node, phandles, controller):
    """(property, line) for each line of `controller` a node's *-gpios properties name."""
    claims = []
    for key, value in node.props.items():
        if not (key == "gpios" or key.endswith("-gpios") or key.endswith("-gpio")):
            continue
        c = cells(value)
        i = 0
        while i < len(c):
            target = phandles.get(c[i])
            width = cells(target.props.get("#gpio-cells")) if target else []
            width = width[0] if width else 2
            if target is controller and i + 1 < len(c):
                claims.append((key, c[i + 1]))
            i += 1 + width
    return claims


def check(text):
    """[(ok, what)] for each check."""
    nodes = parse(text)
    phandles = by_phandle(nodes)
    results = []

    def need(ok, what):
        results.append((bool(ok), what))

    def pins_of(node):
        # A pin controller applies only its own "default" state (its hogs); a device may select
        # any of its states.
        only = "default" if node.path == GPIO else None
        return [(cells(g.props.get("brcm,pins")), cells(g.props.get("brcm,function")), g.path)
                for g in pinctrl_groups(node, phandles, only)]

    spi = nodes.get(SPI0)
    need(spi is not None and spi.enabled(), f"SPI0 {SPI0} enabled")
    if spi is not None:
        need(any(p == [7, 8, 9, 10, 11] and f == [ALT0] for p, f, _ in pins_of(spi)),
             f"SPI0 pins GPIO 7-11 in ALT0 (pinctrl: {pins_of(spi)})")
        need(not {"tx", "rx"} & set(strings(spi.props.get("dma-names"))),
             "SPI0 in interrupt mode (no tx/rx DMA channel named)")
        lcd = nodes.get(SPI0 + "/spidev@0")
        need(lcd is not None and lcd.enabled()
             and "rohm,dh2228fv" in strings(lcd.props.get("compatible"))
             and cells(lcd.props.get("reg")) == [0]
             and cells(lcd.props.get("spi-max-frequency")) == [1_000_000],
             "spidev on SPI0 chip select 0 (the LCD) at 1 MHz")
    i2c = nodes.get(I2C1)
    need(i2c is not None and i2c.enabled(), f"I2C1 {I2C1} enabled")
    if i2c is not None:
        need(any(p == [2, 3] and f == [ALT0] for p, f, _ in pins_of(i2c)),
             f"I2C1 pins GPIO 2/3 in ALT0 (pinctrl: {pins_of(i2c)})")
    controller = nodes.get(GPIO)
    need(controller is not None and "gpio-controller" in controller.props,
         f"pin controller {GPIO}")
    claimed = []
    muxed = []
    if controller is not None:
        for n in nodes.values():
            if not n.enabled():
                continue
            for key, line in gpio_claims(n, phandles, controller):
                if line in LCD_LINES:
                    claimed.append(f"{n.path} {key} -> GPIO {line}")
            for pins, _, group in pins_of(n):
                for line in LCD_LINES:
                    if line in pins:
                        claimed.append(f"{n.path} pinctrl {group} -> GPIO {line}")
                for owner, bus_pins in ((SPI0, range(7, 12)), (I2C1, (2, 3))):
                    taken = [p for p in pins if p in bus_pins]
                    if taken and n.path != owner:
                        muxed.append(f"{n.path} pinctrl {group} -> GPIO {taken}")
            if n.parent is controller and "gpio-hog" in n.props:
                for line in cells(n.props.get("gpios"))[::2]:
                    if line in LCD_LINES:
                        claimed.append(f"{n.path} gpio-hog -> GPIO {line}")
    need(not claimed, "GPIO 5 and 6 (LCD RST, DC) claimed by no enabled node"
         + (": " + "; ".join(claimed) if claimed else ""))
    need(not muxed, "SPI0 and I2C1 pins muxed by no other enabled node"
         + (": " + "; ".join(muxed) if muxed else ""))
    return results


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        results = check(f.read())
    name = argv[2] if len(argv) == 3 else argv[1]
    for ok, what in results:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {what}")
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
