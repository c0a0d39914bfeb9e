"""The user's code: a backprop loaded from ``module:function`` or a file and called on copies (``impl``), any
function's or layer's inputs and returned gradients read (``calls``), and either run in a child process under a time
limit where asked (``isolation``)."""
