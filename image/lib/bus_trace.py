#!/usr/bin/env python3
"""Turns QEMU's trace of the emulated Pi's register writes (`-trace memory_region_ops_write`,
machine raspi3b: BCM2837 GPIO at 0x3f200000, SPI0 at 0x3f204000) into the transcript
e2e/src/bin/lcd-transcript.rs prints for the ST7567 driver:

    rst 0|1          the LCD's reset line changed (GPSET0/GPCLR0 writes for line 5)
    cmd xx xx ...    one SPI transfer with the data/command line (line 6) low
    data xx xx ...   one SPI transfer with it high

A transfer starts when the SPI control register is written with TA (transfer active) set and
ends when it is written with TA clear; its bytes are the TX FIFO writes in between (one byte per
write, or four per 32-bit write when the DMA engine feeds the FIFO with a length set in DLEN).

    bus_trace.py TRACE [--dc N] [--rst N]
"""
import argparse
import re
import sys

GPIO_BASE = 0x3F200000
GPSET0 = GPIO_BASE + 0x1C
GPCLR0 = GPIO_BASE + 0x28
SPI_BASE = 0x3F204000
SPI_CS = SPI_BASE + 0x00
SPI_FIFO = SPI_BASE + 0x04
SPI_DLEN = SPI_BASE + 0x0C
CS_TA = 1 << 7
CS_DMAEN = 1 << 8

LINE = re.compile(
    r"memory_region_ops_write .*?addr (0x[0-9a-f]+) value (0x[0-9a-f]+) size (\d+)")


def transcript(lines, dc_line=6, rst_line=5):
    out = []
    dc = False
    rst = None
    transfer = None  # bytes of the transfer in progress
    dma = False
    dlen = 0
    for raw in lines:
        m = LINE.search(raw)
        if not m:
            continue
        addr, value, size = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3))
        if addr in (GPSET0, GPCLR0):
            level = addr == GPSET0
            if value & (1 << dc_line):
                dc = level
            if value & (1 << rst_line) and rst != level:
                rst = level
                out.append(f"rst {int(level)}")
        elif addr == SPI_CS:
            if value & CS_TA and transfer is None:
                transfer = []
                dma = bool(value & CS_DMAEN)
            elif not value & CS_TA and transfer is not None:
                out.append(("data" if dc else "cmd") + "".join(f" {b:02x}" for b in transfer))
                transfer = None
        elif addr == SPI_DLEN:
            dlen = value
        elif addr == SPI_FIFO and transfer is not None:
            if dma and size == 4:
                # The first DMA word carries DLEN and CS; the data follows, four bytes a word.
                n = min(4, dlen - len(transfer)) if dlen else 4
                transfer.extend(value.to_bytes(4, "little")[:max(n, 0)])
            else:
                transfer.append(value & 0xFF)
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trace")
    p.add_argument("--dc", type=int, default=6)
    p.add_argument("--rst", type=int, default=5)
    a = p.parse_args(argv[1:])
    with open(a.trace, encoding="utf-8", errors="replace") as f:
        for line in transcript(f, a.dc, a.rst):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
