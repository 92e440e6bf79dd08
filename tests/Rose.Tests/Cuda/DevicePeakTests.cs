using NUnit.Framework;
using Rose.Cuda;

namespace Rose.Tests.Cuda;

/// <summary>Nominal peaks from device attributes, checked against vendor figures.</summary>
[TestFixture]
public class DevicePeakTests
{
    [Test]
    public void HopperAtItsBoostClockMatchesTheDataSheet()
    {
        // H100 SXM: 132 SMs; 989 dense BF16 TFLOP/s and 67 FP32 TFLOP/s at its 1830 MHz tensor boost.
        var peak = DevicePeak.FromAttributes("NVIDIA H100", 9, 0, 132, 1_830_000, 2_619_000, 5120);
        Assert.That(peak.TensorTflops16, Is.EqualTo(989.4).Within(0.5).Percent);
        Assert.That(peak.Fp32Tflops, Is.EqualTo(61.8).Within(0.5).Percent);
        Assert.That(peak.MemoryGbps, Is.EqualTo(2.0 * 2.619e9 * 640 / 1e9).Within(1e-9));
        Assert.That(peak.Architecture, Is.EqualTo("sm_90"));
    }

    [Test]
    public void AmpereHasHalfTheFp32UnitsPerClock()
    {
        // A100: 108 SMs at 1410 MHz: 312 dense BF16 TFLOP/s, 19.5 FP32 TFLOP/s.
        var peak = DevicePeak.FromAttributes("NVIDIA A100", 8, 0, 108, 1_410_000, 1_215_000, 5120);
        Assert.That(peak.TensorTflops16, Is.EqualTo(312).Within(0.5).Percent);
        Assert.That(peak.Fp32Tflops, Is.EqualTo(19.5).Within(0.5).Percent);
    }

    [Test]
    public void AnUnknownArchitectureHasNoTensorPeakAndNoPercent()
    {
        var peak = DevicePeak.FromAttributes("future", 13, 0, 10, 1_000_000, 1_000_000, 64);
        Assert.That(peak.TensorTflops16, Is.Null);
        Assert.That(DevicePeak.Percent(1, peak.TensorTflops16), Is.Null);
        Assert.That(DevicePeak.Percent(50, 200), Is.EqualTo(25));
    }
}
