/// Visits every TensorProto a model holds: initializers, sparse initializers, tensor attributes
/// of nodes at any depth (subgraphs, functions, training graphs). Used for external data.
enum TensorWalk {
    static func visit(_ model: inout Onnx_ModelProto, _ body: (inout Onnx_TensorProto) throws(ONNXError) -> Void) throws(ONNXError) {
        if model.hasGraph { try visit(&model.graph, body) }
        for i in model.functions.indices { try visit(&model.functions[i].node, body) }
        for i in model.trainingInfo.indices {
            if model.trainingInfo[i].hasInitialization { try visit(&model.trainingInfo[i].initialization, body) }
            if model.trainingInfo[i].hasAlgorithm { try visit(&model.trainingInfo[i].algorithm, body) }
        }
    }

    static func visit(_ graph: inout Onnx_GraphProto, _ body: (inout Onnx_TensorProto) throws(ONNXError) -> Void) throws(ONNXError) {
        for i in graph.initializer.indices { try body(&graph.initializer[i]) }
        for i in graph.sparseInitializer.indices {
            try body(&graph.sparseInitializer[i].values)
            try body(&graph.sparseInitializer[i].indices)
        }
        try visit(&graph.node, body)
    }

    static func visit(_ nodes: inout [Onnx_NodeProto], _ body: (inout Onnx_TensorProto) throws(ONNXError) -> Void) throws(ONNXError) {
        for n in nodes.indices {
            for a in nodes[n].attribute.indices {
                if nodes[n].attribute[a].hasT { try body(&nodes[n].attribute[a].t) }
                for t in nodes[n].attribute[a].tensors.indices { try body(&nodes[n].attribute[a].tensors[t]) }
                if nodes[n].attribute[a].hasSparseTensor {
                    try body(&nodes[n].attribute[a].sparseTensor.values)
                    try body(&nodes[n].attribute[a].sparseTensor.indices)
                }
                if nodes[n].attribute[a].hasG { try visit(&nodes[n].attribute[a].g, body) }
                for g in nodes[n].attribute[a].graphs.indices { try visit(&nodes[n].attribute[a].graphs[g], body) }
            }
        }
    }

    /// The same walk, read-only: the inout walk forces every message on the way to be copied
    /// (protobuf storage is copy-on-write), which cost milliseconds on models of many Constants.
    static func forEach(_ model: Onnx_ModelProto, _ body: (Onnx_TensorProto) throws(ONNXError) -> Void) throws(ONNXError) {
        if model.hasGraph { try forEach(model.graph, body) }
        for f in model.functions { try forEach(f.node, body) }
        for t in model.trainingInfo {
            if t.hasInitialization { try forEach(t.initialization, body) }
            if t.hasAlgorithm { try forEach(t.algorithm, body) }
        }
    }

    static func forEach(_ graph: Onnx_GraphProto, _ body: (Onnx_TensorProto) throws(ONNXError) -> Void) throws(ONNXError) {
        for t in graph.initializer { try body(t) }
        for s in graph.sparseInitializer {
            try body(s.values)
            try body(s.indices)
        }
        try forEach(graph.node, body)
    }

    static func forEach(_ nodes: [Onnx_NodeProto], _ body: (Onnx_TensorProto) throws(ONNXError) -> Void) throws(ONNXError) {
        for node in nodes {
            for a in node.attribute {
                if a.hasT { try body(a.t) }
                for t in a.tensors { try body(t) }
                if a.hasSparseTensor {
                    try body(a.sparseTensor.values)
                    try body(a.sparseTensor.indices)
                }
                if a.hasG { try forEach(a.g, body) }
                for g in a.graphs { try forEach(g, body) }
            }
        }
    }
}
