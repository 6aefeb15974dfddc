"""image/lib/bus_trace.py turns QEMU's register-write trace into the LCD transcript: reset edges,
and one `cmd`/`data` line per SPI transfer with the data/command line's level at the time."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import bus_trace  # noqa: E402


def w(addr, value, size=4, name="x"):
    return (f"memory_region_ops_write cpu 1 mr 0x7f00 addr {addr:#x} value {value:#x} "
            f"size {size} name '{name}'")


GPSET, GPCLR, CS, FIFO, DLEN = 0x3F20001C, 0x3F200028, 0x3F204000, 0x3F204004, 0x3F20400C
RST, DC, CE0 = 1 << 5, 1 << 6, 1 << 8


def transfer(*data):
    return [w(CS, 0x83)] + [w(FIFO, b) for b in data] + [w(CS, 0x683), w(CS, 0x50033)]


class BusTrace(unittest.TestCase):
    def test_reset_edges_and_transfers_by_dc_level(self):
        lines = (
            [w(GPCLR, DC), w(GPSET, RST), w(GPCLR, RST), w(GPSET, RST), w(GPSET, RST)]
            + transfer(0xA3, 0xA0)
            + [w(GPSET, CE0), w(GPSET, DC)]  # chip select (GPIO 8) is not DC
            + transfer(0xFF, 0x00, 0x3D)
            + ["some other trace line", w(GPCLR, DC | CE0)]
            + transfer(0x81, 0x3A)
        )
        self.assertEqual(bus_trace.transcript(lines), [
            "rst 1", "rst 0", "rst 1",  # a repeated high is no edge
            "cmd a3 a0",
            "data ff 00 3d",
            "cmd 81 3a",
        ])

    def test_dma_words_carry_four_bytes_up_to_dlen(self):
        lines = [w(GPSET, DC), w(DLEN, 6), w(CS, 0x183), w(FIFO, 0x44332211), w(FIFO, 0x00006655),
                 w(CS, 0x50033)]
        self.assertEqual(bus_trace.transcript(lines), ["data 11 22 33 44 55 66"])

    def test_other_lines_can_be_named(self):
        lines = [w(GPSET, 1 << 17), w(GPSET, 1 << 22)] + transfer(0x01)
        self.assertEqual(bus_trace.transcript(lines, dc_line=22, rst_line=17),
                         ["rst 1", "data 01"])

    def test_fifo_writes_outside_a_transfer_are_not_counted(self):
        self.assertEqual(bus_trace.transcript([w(FIFO, 0x55)]), [])


if __name__ == "__main__":
    unittest.main()
