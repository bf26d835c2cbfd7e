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
}
