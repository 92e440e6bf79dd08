using Rose.Modeling;
using Rose.Pruning;

namespace Rose.Pipeline;

/// <summary>Moves the calibration windows through the model one decoder layer at a time, on
/// whichever device holds the activations.</summary>
public interface ICalibrationRunner : IDisposable
{
    int Windows { get; }
    int SeqLen { get; }

    /// <summary>Dense forward of the layer over every window (activations unchanged), folding each
    /// linear input group into fresh statistics in window order k = 1..n.</summary>
    Dictionary<LinearInputGroup, LayerInputStatistics> CollectStatistics(DecoderLayerWeights layer, IPruningBackend backend);

    /// <summary>Hints that <paramref name="next"/> (being read from disk) is the layer the next
    /// <see cref="CollectStatistics"/> gets, so a device runner can upload it while this layer prunes.</summary>
    void Prefetch(Task<DecoderLayerWeights> next)
    {
    }

    /// <summary>Where the linear <paramref name="kind"/> of <paramref name="layer"/> already lives on the pruning
    /// backend after <see cref="CollectStatistics"/> of that layer (a device runner keeps the layer it ran), or
    /// null: prune it from the host weights. When every linear of the layer is pruned through its resident
    /// weight, <see cref="Advance"/> runs from that copy instead of uploading the layer again.</summary>
    IResidentWeight? ResidentWeight(DecoderLayerWeights layer, LinearKind kind) => null;

    /// <summary>Forward of the (pruned) layer over every window: the activations become the next layer's inputs.</summary>
    void Advance(DecoderLayerWeights layer);

    /// <summary>Writes the activations (the hidden states entering the next layer) so an interrupted
    /// run can continue from them: a <see cref="CalibrationStates"/> header, then every window's
    /// states in window order, in the model's activation dtype.</summary>
    void SaveStates(Stream stream);

    /// <summary>Replaces the activations with ones <see cref="SaveStates"/> wrote for the same windows,
    /// sequence length and model width.</summary>
    void LoadStates(Stream stream);
}
