"""Checks of the neuron semantics and of what scripting keeps, which the compiler relies on."""

import sys

sys.dont_write_bytecode = True

import tempfile  # noqa: E402
import unittest  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from spk_models import (IF, LIF, SpikeDrivenTransformer, Spikformer, SpikingCNN,  # noqa: E402
                        SpikingMLP)
from spk_models.data import probe_input, read_digits_bin, write_digits_bin  # noqa: E402


def reference_lif(x, tau, v_th, v_reset, decay_input):
    """The textbook update, written out step by step (SpikingJelly's general formula)."""
    v = torch.full_like(x[0], v_reset)
    out = []
    for t in range(x.shape[0]):
        if decay_input:
            h = v + (x[t] - (v - v_reset)) / tau
        else:
            h = v - (v - v_reset) / tau + x[t]
        s = (h >= v_th).float()
        v = torch.where(s > 0, torch.full_like(h, v_reset), h)
        out.append(s)
    return torch.stack(out)


class LIFTest(unittest.TestCase):
    def test_hand_computed_trace(self):
        # tau 2, constant input 1.5: H = 0.75 (no spike), 1.125 (spike, reset to 0), 0.75, 1.125.
        x = torch.full((4, 1), 1.5)
        self.assertEqual(LIF(tau=2.0)(x).flatten().tolist(), [0.0, 1.0, 0.0, 1.0])

    def test_spike_exactly_at_threshold(self):
        # H >= v_threshold fires: input 2.0 gives H = 1.0 at the first step.
        self.assertEqual(LIF(tau=2.0)(torch.full((1, 1), 2.0)).item(), 1.0)

    def test_matches_reference_for_all_variants(self):
        g = torch.Generator().manual_seed(1)
        x = torch.randn(8, 3, 50, generator=g) * 2
        # Powers of two for tau keep SpikingJelly's special-cased formulas bit-equal to the
        # general one, so spikes can be compared exactly.
        for tau in (2.0, 4.0):
            for v_th in (1.0, 0.5):
                for v_reset in (0.0, -0.25):
                    for decay_input in (True, False):
                        with self.subTest(tau=tau, v_th=v_th, v_reset=v_reset,
                                          decay_input=decay_input):
                            m = LIF(tau, v_th, v_reset, decay_input)
                            want = reference_lif(x, tau, v_th, v_reset, decay_input)
                            self.assertTrue(torch.equal(m(x), want))
                            self.assertTrue(torch.equal(torch.jit.script(m)(x), want))

    def test_if_neuron(self):
        x = torch.tensor([[0.6], [0.6], [0.6], [-0.1]])
        # V: 0.6, 1.2 -> spike -> 0, 0.6, 0.5
        self.assertEqual(IF()(x).flatten().tolist(), [0.0, 1.0, 0.0, 0.0])

    def test_surrogate_gradient_flows_in_eager_mode(self):
        x = torch.full((4, 5), 0.9, requires_grad=True)
        LIF()(x).sum().backward()
        self.assertGreater(float(x.grad.abs().sum()), 0.0)

    def test_scripted_module_keeps_attributes_and_no_training_path(self):
        m = torch.jit.script(LIF(tau=2.0, v_threshold=0.5, decay_input=False))
        self.assertEqual(m._c.getattr("tau"), 2.0)
        self.assertEqual(m._c.getattr("v_threshold"), 0.5)
        self.assertEqual(m._c.getattr("v_reset"), 0.0)
        self.assertIs(m._c.getattr("decay_input"), False)
        self.assertTrue(m._c._type().name().endswith("LIF"))
        code = m.code + m._fire.code
        self.assertNotIn("Surrogate", code)
        self.assertIn("prim::Loop", str(m.graph))


class ModelsTest(unittest.TestCase):
    def test_models_script_and_match_eager(self):
        torch.manual_seed(0)
        x = torch.rand(3, 1, 8, 8)
        for model in (SpikingMLP(), SpikingCNN(),
                      Spikformer(1, 64, depth=1, num_heads=4, pool_stages=(2,)),
                      SpikeDrivenTransformer(1, 64, depth=1, pool_stages=(2,))):
            with self.subTest(model=type(model).__name__):
                model.eval()
                scripted = torch.jit.script(model)
                with torch.no_grad():
                    want = model(x)
                    got = scripted(x)
                self.assertEqual(tuple(got.shape), (3, 10))
                self.assertTrue(torch.equal(got, want))


class DataTest(unittest.TestCase):
    def test_digits_file_round_trip(self):
        images = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)
        labels = np.arange(5, dtype=np.int64)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "digits.bin"
            write_digits_bin(path, images, labels)
            self.assertEqual(path.stat().st_size, 8 + 16 + 5 * 64 * 4 + 5 * 4)
            got_images, got_labels = read_digits_bin(path)
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels, labels)

    def test_probe_input_formula(self):
        x = probe_input((1, 2, 2, 2)).flatten()
        for i in range(8):
            h = (i * 2654435761) % 2**32
            self.assertEqual(float(x[i]), (h >> 8) / 2**24)


if __name__ == "__main__":
    unittest.main()
