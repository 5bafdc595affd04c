using Fluid;
using Fluid.Values;

namespace Provisioner.Rendering;

/// <summary>
/// Converts template values to Fluid values whose maps reject unknown members. Fluid's strict mode only
/// covers top-level names; without this, <c>{{ machine.nmae }}</c> would render as an empty string.
/// </summary>
internal static class StrictValues
{
    public static FluidValue From(object value, string path) => value switch
    {
        string s => StringValue.Create(s),
        bool b => BooleanValue.Create(b),
        int i => NumberValue.Create(i),
        IReadOnlyDictionary<string, object> map => new DictionaryValue(new StrictMap(map, path)),
        System.Collections.IEnumerable list => new ArrayValue(list.Cast<object>().Select((v, i) => From(v, $"{path}[{i}]")).ToArray()),
        _ => throw new ArgumentException($"unsupported template value type {value.GetType()} at {path}"),
    };

    private sealed class StrictMap(IReadOnlyDictionary<string, object> map, string path) : IFluidIndexable
    {
        public int Count => map.Count;
        public IEnumerable<string> Keys => map.Keys;

        public bool TryGetValue(string name, out FluidValue value)
        {
            if (!map.TryGetValue(name, out var raw))
                throw new InvalidOperationException($"'{path}.{name}' is not defined (known: {string.Join(", ", map.Keys.Select(k => path + "." + k))})");
            value = From(raw, $"{path}.{name}");
            return true;
        }
    }
}
