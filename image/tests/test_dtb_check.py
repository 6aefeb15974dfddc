"""The merged device tree check (image/lib/dtb_check.py) passes a tree with what the GFX HAT
needs, and fails each way a tree can fall short (dtc's own output format)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dtb_check  # noqa: E402

GOOD = """/dts-v1/;

/ {
	compatible = "raspberrypi,3-model-b";

	soc {
		gpio@7e200000 {
			gpio-controller;
			#gpio-cells = <0x02>;
			pinctrl-names = "vigil-not-hogged";
			pinctrl-0 = <0x07>;
			phandle = <0x0a>;

			vigil-spi0-pins {
				brcm,pins = <0x07 0x08 0x09 0x0a 0x0b>;
				brcm,function = <0x04>;
				phandle = <0x67>;
			};

			vigil-i2c1-pins {
				brcm,pins = <0x02 0x03>;
				brcm,function = <0x04>;
				phandle = <0x68>;
			};

			gpioout {
				brcm,pins = <0x06>;
				brcm,function = <0x01>;
				phandle = <0x07>;
			};
		};

		spi@7e204000 {
			pinctrl-0 = <0x67>;
			pinctrl-names = "default";
			status = "okay";
			dmas = <0x0b 0x06 0x0b 0x07>;
			dma-names = "vigil-no-tx", "vigil-no-rx";

			spidev@0 {
				spi-max-frequency = <0xf4240>;
				reg = <0x00>;
				compatible = "rohm,dh2228fv";
			};
		};

		i2c@7e804000 {
			pinctrl-0 = <0x68>;
			status = "okay";
		};

		led {
			gpios = <0x0a 0x1d 0x00>;
		};

		old-lcd {
			status = "disabled";
			reset-gpios = <0x0a 0x05 0x01>;
		};
	};
};
"""


def failures(text):
    return [what for ok, what in dtb_check.check(text) if not ok]


class DtbCheck(unittest.TestCase):
    def test_a_tree_with_the_hat_passes(self):
        self.assertEqual(failures(GOOD), [])
        self.assertEqual(len(dtb_check.check(GOOD)), 9)

    def test_spi_dma_fails(self):
        f = failures(GOOD.replace('"vigil-no-tx", "vigil-no-rx"', '"tx", "rx"'))
        self.assertTrue(any("interrupt mode" in w for w in f), f)

    def test_spi_off_fails(self):
        bad = GOOD.replace('pinctrl-names = "default";\n\t\t\tstatus = "okay";',
                           'pinctrl-names = "default";\n\t\t\tstatus = "disabled";')
        self.assertNotEqual(bad, GOOD)
        f = failures(bad)
        self.assertTrue(any("SPI0 /soc/spi@7e204000 enabled" in w for w in f), f)

    def test_the_lcd_spidev_must_be_on_chip_select_0_at_1_mhz(self):
        for old, new in (("reg = <0x00>", "reg = <0x01>"), ("<0xf4240>", "<0x7a120>"),
                         ('"rohm,dh2228fv"', '"other,dev"')):
            f = failures(GOOD.replace(old, new))
            self.assertTrue(any("chip select 0" in w for w in f), (old, f))

    def test_i2c_pins_elsewhere_fail(self):
        f = failures(GOOD.replace("<0x02 0x03>", "<0x2c 0x2d>"))
        self.assertTrue(any("I2C1 pins GPIO 2/3" in w for w in f), f)

    def test_an_enabled_node_holding_gpio_6_fails_and_a_disabled_one_does_not(self):
        bad = GOOD.replace("gpios = <0x0a 0x1d 0x00>", "gpios = <0x0a 0x06 0x00>")
        f = failures(bad)
        self.assertTrue(any("/soc/led gpios -> GPIO 6" in w for w in f), f)
        # old-lcd names GPIO 5 but is disabled: no claim (GOOD passes).

    def test_a_pin_controller_hog_on_the_lcd_lines_or_the_spi_pins_fails(self):
        # The same groups in a state the controller does not apply are no claim (GOOD passes).
        bad = GOOD.replace('"vigil-not-hogged";\n\t\t\tpinctrl-0 = <0x07>;',
                           '"default";\n\t\t\tpinctrl-0 = <0x07 0x67>;')
        self.assertNotEqual(bad, GOOD)
        f = failures(bad)
        self.assertTrue(any("gpioout -> GPIO 6" in w for w in f), f)
        self.assertTrue(any("SPI0 and I2C1 pins muxed by no other" in w and "[7, 8, 9, 10, 11]" in w
                            for w in f), f)

    def test_a_gpio_hog_on_gpio_5_fails(self):
        hog = ("\t\t\thog {\n\t\t\t\tgpio-hog;\n\t\t\t\tgpios = <0x05 0x00>;\n"
               "\t\t\t\toutput-high;\n\t\t\t};\n\n\t\t\tgpioout {")
        f = failures(GOOD.replace("\t\t\tgpioout {", hog))
        self.assertTrue(any("gpio-hog -> GPIO 5" in w for w in f), f)


if __name__ == "__main__":
    unittest.main()
